import { main } from '../../platform/service.js'
import { paymentService } from './app.js'

main(paymentService)
