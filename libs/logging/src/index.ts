export { type LogFields, Logger, type LogLevel } from './logger.js';
