import { describe, expect, expectTypeOf, it } from 'vitest';
import { channelPattern, channelRules, type PatternParams } from './channel-pattern.js';

describe('channelPattern', () => {
  it('captures each :parameter segment, typed by the pattern', () => {
    const comments = channelPattern('docs/:doc/comments');
    const params = comments.match('docs/readme/comments');
    expect(params).toEqual({ doc: 'readme' });
    expectTypeOf(params).toEqualTypeOf<{ doc: string } | undefined>();
    expect(channelPattern('users/:id/:box').match('users/42/inbox')).toEqual({ id: '42', box: 'inbox' });
    expectTypeOf<PatternParams<'users/:id/:box'>>().toEqualTypeOf<{ id: string } & { box: string }>();
  });

  it('matches literal segments exactly, and only names with as many segments', () => {
    const user = channelPattern('users/:id');
    for (const name of ['users/', 'users', 'users/42/inbox', 'Users/42', 'admins/42', '/users/42']) {
      expect(user.match(name), name).toBeUndefined();
    }
    expect(channelPattern('lobby').match('lobby')).toEqual({});
    expect(channelPattern('lobby').match('lobby/2')).toBeUndefined();
  });

  it('takes a segment as it is, so that no encoding reaches another channel', () => {
    expect(channelPattern('users/:id').match('users/%2F..')).toEqual({ id: '%2F..' });
    expect(channelPattern('users/:id').match('users/a:b')).toEqual({ id: 'a:b' });
  });

  it('refuses a pattern with an empty segment, a bad or repeated parameter', () => {
    for (const pattern of ['', 'users//x', 'users/', 'users/:', 'users/:1d', 'a/:id/:id']) {
      expect(() => channelPattern(pattern), pattern).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    }
  });
});

describe('channelRules', () => {
  type Request = { user?: string };
  const authorize = channelRules({
    lobby: true,
    'users/:id': (request: Request, { id }) => {
      expectTypeOf(id).toEqualTypeOf<string>();
      return request.user ? request.user === id || 403 : 401;
    },
    'docs/:doc/comments': async (_request: Request, { doc }) => doc !== 'secret',
  });

  it('lets the first matching pattern decide, with its parameters and the request', async () => {
    expect(await authorize('lobby', {})).toBe(true);
    expect(await authorize('users/ada', { user: 'ada' })).toBe(true);
    expect(await authorize('users/bob', { user: 'ada' })).toBe(403);
    expect(await authorize('users/ada', {})).toBe(401);
    expect(await authorize('docs/readme/comments', {})).toBe(true);
    expect(await authorize('docs/secret/comments', {})).toBe(false);
  });

  it('refuses a channel no pattern matches', async () => {
    expect(await authorize('admin', { user: 'ada' })).toBe(403);
    expect(await authorize('users/ada/inbox', { user: 'ada' })).toBe(403);
  });
});
