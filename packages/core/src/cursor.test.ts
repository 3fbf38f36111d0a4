import { describe, expect, it } from 'vitest';
import { CursorKey, decodeCursor, encodeCursor, MAX_CURSOR_LENGTH } from './cursor.js';

const key = new CursorKey('a secret of at least thirty-two bytes');
const positions = new Map([
  ['room:lobby', '1733140000000-0'],
  ['users/42', ''],
  ['docs/a=b&c/comments', '1733140000123-7'],
  ['ünï 😀', '9'],
]);

describe('resume cursors', () => {
  it('give back the positions they were written with, in order', async () => {
    const cursor = encodeCursor(positions, await key.sign(positions.keys())) as string;
    expect(cursor).toMatch(/^1[\w-]+$/); // safe in an id: no NUL, CR, LF or space
    expect([...((await decodeCursor(cursor, key)) ?? [])]).toEqual([...positions]);
  });

  it('sign the set of channels, whatever its order', async () => {
    expect(await key.sign(['b', 'a', 'a'])).toBe(await key.sign(['a', 'b']));
    expect(await key.sign(['a', 'b'])).not.toBe(await key.sign(['a', 'c']));
  });

  it('are refused with a channel added or renamed, another key, an edited MAC or bad form', async () => {
    const mac = await key.sign(positions.keys());
    const forged = encodeCursor(new Map([...positions, ['admin', '']]), mac) as string;
    const renamed = encodeCursor(new Map([['room:other', '1']]), await key.sign(['room:lobby'])) as string;
    const other = new CursorKey('another secret, also thirty-two bytes');
    const valid = encodeCursor(positions, mac) as string;
    const editedMac = `1${valid[1] === 'A' ? 'B' : 'A'}${valid.slice(2)}`;
    for (const cursor of [forged, renamed, editedMac, `2${valid.slice(1)}`, '1', '', '1!!', valid.slice(0, 20)]) {
      expect(await decodeCursor(cursor, key), cursor).toBeUndefined();
    }
    expect(await decodeCursor(valid, other)).toBeUndefined();
  });

  it('let a client move a position within its channels, as a Last-Event-ID does', async () => {
    const mac = await key.sign(positions.keys());
    const moved = encodeCursor(new Map([...positions, ['users/42', '5-0']]), mac) as string;
    expect((await decodeCursor(moved, key))?.get('users/42')).toBe('5-0');
  });

  it(`stay within ${MAX_CURSOR_LENGTH} characters`, async () => {
    const many = new Map(Array.from({ length: 200 }, (_, i) => [`room:${i}`, '1733140000000-0']));
    expect(encodeCursor(many, await key.sign(many.keys()))).toBeUndefined();
    expect(await decodeCursor(`1${'A'.repeat(MAX_CURSOR_LENGTH)}`, key)).toBeUndefined();
    const ten = new Map(Array.from({ length: 10 }, (_, i) => [`room:${i}`, '1733140000000-0']));
    const cursor = encodeCursor(ten, await key.sign(ten.keys())) as string;
    console.log(`[cursor] 10 channels with Redis ids: ${cursor.length} characters`);
    expect(cursor.length).toBeLessThan(450);
  });

  it('need a secret of 32 bytes or more', () => {
    expect(() => new CursorKey('short')).toThrow(RangeError);
  });
});
