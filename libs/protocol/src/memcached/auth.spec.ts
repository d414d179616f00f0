import { plainCredentials, SignIn, textCredentials } from './auth.js';

describe('memcached sign-in credentials', () => {
  it.each<[string, { user: string; password: string } | undefined]>([
    ['app secret', { user: 'app', password: 'secret' }],
    ['  app   two words  ', { user: 'app', password: 'two words' }],
    ['app', undefined],
    ['app   ', undefined],
    ['', undefined],
    ['ünï pässwörd', { user: 'ünï', password: 'pässwörd' }],
  ])('text data block %j', (block, expected) => {
    expect(textCredentials(Buffer.from(block, 'utf8'))).toEqual(expected);
  });

  it.each<[string, { user: string; password: string } | undefined]>([
    ['\0app\0secret', { user: 'app', password: 'secret' }],
    ['app\0app\0secret', { user: 'app', password: 'secret' }],
    ['ops\0app\0secret', undefined],
    ['\0app\0', undefined],
    ['\0\0secret', undefined],
    ['\0app\0se\0cret', undefined],
    ['app secret', undefined],
  ])('SASL PLAIN message %j', (message, expected) => {
    expect(plainCredentials(Buffer.from(message, 'utf8'))).toEqual(expected);
  });

  it('a connection is pending while a sign-in is checked, back out when it fails, in once one succeeds', () => {
    const signIn = new SignIn();
    expect(signIn.state).toBe('out');
    signIn.begin();
    signIn.begin();
    expect(signIn.state).toBe('pending');
    signIn.settled(false);
    expect(signIn.state).toBe('pending');
    signIn.settled(false);
    expect(signIn.state).toBe('out');
    signIn.begin();
    signIn.settled(true);
    expect(signIn.state).toBe('in');
  });
});
