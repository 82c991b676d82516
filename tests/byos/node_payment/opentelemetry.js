// Loaded with `node --require ./opentelemetry.js index.js`: the SDK must patch @grpc/grpc-js
// before index.js loads it. Everything is configured from the standard OTEL_* environment
// (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_BSP_SCHEDULE_DELAY), as the demo's compose file gives it to payment.
'use strict';

const { NodeSDK } = require('@opentelemetry/sdk-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
const { GrpcInstrumentation } = require('@opentelemetry/instrumentation-grpc');

const sdk = new NodeSDK({
  traceExporter: new OTLPTraceExporter(),
  instrumentations: [
    // Health checks are readiness probes, not traffic: keep them out of the traces.
    new GrpcInstrumentation({ ignoreGrpcMethods: ['Check', 'Watch'] }),
  ],
});
sdk.start();

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  // index.js stops the server on the same signal; flush spans, then leave.
  sdk.shutdown()
    .catch((err) => console.error(`telemetry shutdown failed: ${err}`))
    .finally(() => process.exit(0));
  console.log(`${signal}: flushing telemetry`);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
