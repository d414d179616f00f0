import { KvError } from '../errors.js';

/** AUTH on a node with no users: nothing to sign in to (a guard answers AUTH when there are users). */
export const authWithoutUsers = (): never => {
  throw new KvError('BAD_REQUEST', 'AUTH failed: no users are configured on this node');
};
