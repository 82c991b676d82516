// Charge as the demo's payment service does it at 2.0.2 (demo-facts §5.6). Where 3.0.0
// differs (demo-facts-3.0 §5.3.6) the comment says so.
'use strict';

const { context, propagation, trace } = require('@opentelemetry/api');
const { OpenFeature } = require('@openfeature/server-sdk');
const { FlagdProvider } = require('@openfeature/flagd-provider');
const cardValidator = require('simple-card-validator');
const { v4: uuidv4 } = require('uuid');

const tracer = trace.getTracer('payment');
// RPC resolver (the default): FLAGD_HOST / FLAGD_PORT, flagd.evaluation.v1, LRU cache that
// EventStream's configuration_change empties.
const flags = new FlagdProvider();
const LOYALTY_LEVELS = ['platinum', 'gold', 'silver', 'bronze'];

function pick(values) {
  return values[Math.floor(Math.random() * values.length)];
}

// `units.nanos` read as text then as a float: 43 / 50000000 gives "43.50" (the demo's bug;
// 3.0.0 computes (units + nanos / 1e9).toFixed(2) and writes demo.payment.amount).
function amountText(amount) {
  return parseFloat(`${amount.units}.${amount.nanos}`).toFixed(2);
}

async function charge(request) {
  const span = tracer.startSpan('charge');
  // Setting the same provider again is a no-op once it is ready; the demo does it per call.
  await OpenFeature.setProviderAndWait(flags);
  const failure = await OpenFeature.getClient().getNumberValue('paymentFailure', 0);
  if (failure > 0 && Math.random() < failure) {
    span.setAttributes({ 'app.loyalty.level': 'gold' });
    span.end();
    // 3.0.0: "... demo.user_context.loyalty_level=gold"
    throw new Error('Payment request failed. Invalid token. app.loyalty.level=gold');
  }

  const card = request.creditCard || {};
  const number = card.creditCardNumber || '';
  const year = card.creditCardExpirationYear;
  const month = card.creditCardExpirationMonth;
  const { card_type: cardType, valid } = cardValidator(number).getCardDetails();
  span.setAttributes({
    'app.payment.card_type': cardType,
    'app.payment.card_valid': valid,
    'app.loyalty.level': pick(LOYALTY_LEVELS),
  });

  // 2.0.2 leaves `charge` open on these three errors, so it is never exported; 3.0.0 ends it
  // with an exception event and ERROR status.
  if (!valid) {
    throw new Error('Credit card info is invalid.');
  }
  if (!['visa', 'mastercard'].includes(cardType)) {
    throw new Error(
      `Sorry, we cannot process ${cardType} credit cards. Only VISA or MasterCard is accepted.`,
    );
  }
  const now = new Date();
  if (now.getFullYear() * 12 + now.getMonth() + 1 > year * 12 + month) {
    throw new Error(`The credit card (ending ${number.substr(-4)}) expired on ${month}/${year}.`);
  }

  const bag = propagation.getBaggage(context.active());
  const synthetic = bag?.getEntry('synthetic_request')?.value === 'true';
  span.setAttribute('app.payment.charged', !synthetic);
  span.end();
  return { transactionId: uuidv4() };
}

module.exports = { charge, amountText };
