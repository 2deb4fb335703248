import { main } from '../../platform/service.js'
import { orchestratorService } from './app.js'

main(orchestratorService)
