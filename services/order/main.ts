import { main } from '../../platform/service.js'
import { orderService } from './app.js'

main(orderService)
