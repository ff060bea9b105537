//! Course catalog, orders and pay links, the payment-event consumer, expiry and refunds.
