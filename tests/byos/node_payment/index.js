// oteldemo.PaymentService on PAYMENT_PORT, a stand-in-free payment for tracebed's
// bring-your-own-service tests. Start: node --require ./opentelemetry.js index.js
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const health = require('grpc-js-health-check');
const { trace, SpanStatusCode } = require('@opentelemetry/api');
const { charge, amountText } = require('./charge');

// The demo ships its own copy of demo.proto; this one uses the project's (same contract).
const PROTO = process.env.DEMO_PROTO
  || path.join(__dirname, '..', '..', '..', 'src', 'tracebed', 'reference', 'proto', 'demo.proto');

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`payment: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

async function chargeHandler(call, callback) {
  const span = trace.getActiveSpan();
  try {
    span?.setAttribute('app.payment.amount', amountText(call.request.amount || {}));
    callback(null, await charge(call.request));
  } catch (err) {
    // A plain Error: grpc-js answers UNKNOWN with its message, as the demo does.
    span?.recordException(err);
    span?.setStatus({ code: SpanStatusCode.ERROR });
    callback(err);
  }
}

function main() {
  const port = required('PAYMENT_PORT');
  const definition = protoLoader.loadSync(PROTO);  // lowerCamelCase fields, as in the demo
  const { oteldemo } = grpc.loadPackageDefinition(definition);
  const server = new grpc.Server();
  server.addService(oteldemo.PaymentService.service, { charge: chargeHandler });
  server.addService(health.service, new health.Implementation({ '': 'SERVING' }));
  server.bindAsync(`0.0.0.0:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      console.error(`payment: cannot listen on ${port}: ${err.message}`);
      process.exit(1);
    }
    console.log(`payment gRPC server started on port ${port}`);
  });
  process.once('SIGTERM', () => server.tryShutdown(() => {}));
}

main();
