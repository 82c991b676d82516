// Emits log records and metrics with the Node OpenTelemetry SDK to a tracebed sink over
// OTLP/HTTP (JSON), then exits. Driven by tests/otlp/test_node_signals.py through env vars:
// SINK_URL, SERVICE, TRACE_ID, SPAN_ID, LOGS (how many records), ADDS (counter increments).
'use strict';

const api = require('@opentelemetry/api');
const { Resource } = require('@opentelemetry/resources');
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');
const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = require('@opentelemetry/sdk-metrics');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');
const { SeverityNumber } = require('@opentelemetry/api-logs');

// The SDK reports a failed export only through its diagnostic logger: collect those, so a
// refused export fails the run instead of passing silently.
const exportErrors = [];
api.diag.setLogger(
  {
    error: (...args) => exportErrors.push(args.map(String).join(' ')),
    warn: (...args) => exportErrors.push(args.map(String).join(' ')),
    info: () => {},
    debug: () => {},
    verbose: () => {},
  },
  api.DiagLogLevel.WARN,
);

async function main() {
  const env = process.env;
  const resource = new Resource({ 'service.name': env.SERVICE });
  const logs = new LoggerProvider({ resource });
  logs.addLogRecordProcessor(
    new SimpleLogRecordProcessor(new OTLPLogExporter({ url: `${env.SINK_URL}/v1/logs` })),
  );
  const reader = new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter({
      url: `${env.SINK_URL}/v1/metrics`,
      temporalityPreference: env.TEMPORALITY === 'delta'
        ? AggregationTemporality.DELTA : AggregationTemporality.CUMULATIVE,
    }),
    exportIntervalMillis: 3600000, // exported by forceFlush below, never on a timer
  });
  const meters = new MeterProvider({ resource, readers: [reader] });

  const parent = api.trace.setSpanContext(api.context.active(), {
    traceId: env.TRACE_ID, spanId: env.SPAN_ID, traceFlags: api.TraceFlags.SAMPLED,
  });
  const logger = logs.getLogger('node-signals');
  for (let i = 0; i < Number(env.LOGS); i++) {
    logger.emit({
      severityNumber: SeverityNumber.ERROR,
      severityText: 'ERROR',
      body: `node record ${i}`,
      attributes: { 'app.index': i },
      context: parent,
    });
  }
  const counter = meters.getMeter('node-signals').createCounter('app.node.requests');
  const histogram = meters.getMeter('node-signals').createHistogram('app.node.latency', { unit: 'ms' });
  for (let i = 0; i < Number(env.ADDS); i++) {
    counter.add(1, { 'app.route': i % 2 ? 'odd' : 'even' });
    histogram.record(i + 0.5);
  }
  await meters.forceFlush();
  counter.add(Number(env.ADDS), { 'app.route': 'even' });
  await meters.forceFlush();
  await logs.forceFlush();
  await meters.shutdown();
  await logs.shutdown();
  if (exportErrors.length) {
    process.stderr.write(`export failed: ${exportErrors.join('; ')}\n`);
    process.exit(2);
  }
  process.stdout.write('done\n');
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
