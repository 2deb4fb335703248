// The payment service: users with credit; charges and refunds for checkout sagas.
import { Topics } from '../../platform/messages.js'
import type { ServiceDefinition } from '../../platform/service.js'
import { paymentDeadLetters, paymentHandlers } from './handlers.js'
import { paymentRoutes } from './routes.js'
import { createPaymentStore, type PaymentStore } from './store.js'

export const paymentService: ServiceDefinition<PaymentStore, typeof Topics.payment> = {
  name: 'payment',
  setup: createPaymentStore,
  routes: paymentRoutes,
  consumes: { topic: Topics.payment, handler: paymentHandlers, deadLetter: paymentDeadLetters },
}
