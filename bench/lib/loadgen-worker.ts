// Worker-thread entry of runLoadInWorkers: runs one share of the connections and posts the result.
import { parentPort, workerData } from 'node:worker_threads';
import { runLoad, type LoadOptions } from './loadgen.js';

const result = await runLoad(workerData as LoadOptions);
parentPort?.postMessage(result);
