import { type ServerPort } from '#commands';
import { type NodeLifecycle } from './lifecycle.js';
import { NODE_VERSION } from './version.js';

/** What the command layer knows of the process around it; `describe` adds the process's own INFO lines. */
export function serverPort(lifecycle: NodeLifecycle, describe: ServerPort['describe']): ServerPort {
  return { version: NODE_VERSION, startedAt: lifecycle.startedAt, requestShutdown: () => lifecycle.requestShutdown(), describe };
}
