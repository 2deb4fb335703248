import { main } from '../../platform/service.js'
import { stockService } from './app.js'

main(stockService)
