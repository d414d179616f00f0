import { runService } from '../../shared/src/bootstrap.js';
import { NODE_SERVICE } from './node-service.js';

/** The all-in-one node's process (`merklekv start` runs the same). */
void runService(NODE_SERVICE);
