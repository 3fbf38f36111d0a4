import { describe, expect, it } from 'vitest';
import { encode, encodeComment, SseError } from './index.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const frame = (event: Parameters<typeof encode>[0], options?: Parameters<typeof encode>[1]) =>
  text(encode(event, options));

function expectSseError(fn: () => unknown, code: SseError['code']) {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SseError);
    expect((error as SseError).code).toBe(code);
    expect((error as SseError).message).toMatch(/^\[ssekit\] /);
    return error as SseError;
  }
  throw new Error(`expected an SseError ${code}`);
}

describe('encode', () => {
  it('writes a string as one data line and ends the frame with a blank line', () => {
    expect(frame({ data: 'hello' })).toBe('data: hello\n\n');
  });

  it('writes every field in a fixed order', () => {
    expect(frame({ data: 'x', event: 'tick', id: '7', retry: 1500 })).toBe(
      'event: tick\nid: 7\nretry: 1500\ndata: x\n\n',
    );
  });

  it('splits data on LF, CRLF and a lone CR alike', () => {
    expect(frame({ data: 'a\nb\r\nc\rd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  it('keeps empty lines, including leading and trailing ones', () => {
    expect(frame({ data: '\nmid\n' })).toBe('data: \ndata: mid\ndata: \n\n');
    expect(frame({ data: '\r\n\r\n' })).toBe('data: \ndata: \ndata: \n\n');
  });

  it('keeps a leading space: the client strips only the one after the colon', () => {
    expect(frame({ data: ' padded', event: ' e', id: ' 1' })).toBe('event:  e\nid:  1\ndata:  padded\n\n');
  });

  it('sends an empty string as a real empty event', () => {
    expect(frame({ data: '' })).toBe('data: \n\n');
  });

  it('serializes other data as JSON by default', () => {
    expect(frame({ data: { a: [1, 'two', null] } })).toBe('data: {"a":[1,"two",null]}\n\n');
    expect(frame({ data: 42 })).toBe('data: 42\n\n');
    expect(frame({ data: null })).toBe('data: null\n\n');
  });

  it('uses a custom serializer and splits what it returns', () => {
    expect(frame({ data: { a: 1 } }, { serializer: (v) => JSON.stringify(v, null, 1) })).toBe(
      'data: {\ndata:  "a": 1\ndata: }\n\n',
    );
  });

  it('encodes UTF-8, astral characters included', () => {
    const bytes = encode({ data: 'é€😀' });
    expect([...bytes.slice(6, -2)]).toEqual([...new TextEncoder().encode('é€😀')]);
  });

  it('writes frames without data for an id, and a lone line for a retry alone', () => {
    expect(frame({ id: '5' })).toBe('id: 5\n\n');
    expect(frame({ id: '' })).toBe('id: \n\n');
    // No blank line: nothing to dispatch, and some clients dispatch an empty message on one.
    expect(frame({ retry: 0 })).toBe('retry: 0\n');
    expect(frame({ retry: 10, id: '5' })).toBe('id: 5\nretry: 10\n\n');
  });

  it('accepts a number as id', () => {
    expect(frame({ id: 12, data: 'x' })).toBe('id: 12\ndata: x\n\n');
  });

  it.each(['a\nb', 'a\rb', 'a\r\nb', '\n', 'a\0b', '\0'])('refuses event name %j', (name) => {
    const error = expectSseError(() => encode({ event: name, data: 'x' }), 'INVALID_EVENT');
    expect(error.message).toContain('without CR, LF or NUL');
  });

  it.each(['1\n', '\r2', 'a\0b'])('refuses id %j', (id) => {
    expectSseError(() => encode({ id, data: 'x' }), 'INVALID_ID');
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60])('refuses retry %s', (retry) => {
    expectSseError(() => encode({ retry, data: 'x' }), 'INVALID_RETRY');
  });

  it('refuses values JSON cannot carry, saying what to do', () => {
    const error = expectSseError(() => encode({ data: 10n }), 'SERIALIZE_FAILED');
    expect(error.message).toMatch(/BigInt/);
    expect(error.cause).toBeInstanceOf(TypeError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expectSseError(() => encode({ data: cycle }), 'SERIALIZE_FAILED');
    expectSseError(() => encode({ data: () => 1 }), 'SERIALIZE_FAILED');
    expectSseError(() => encode({ data: Symbol('s') }), 'SERIALIZE_FAILED');
  });

  it('refuses a serializer that does not return a string', () => {
    expectSseError(() => encode({ data: 1 }, { serializer: () => 1 as unknown as string }), 'SERIALIZE_FAILED');
  });
});

describe('encodeComment', () => {
  it('writes a lone comment line for a heartbeat, with no blank line after it', () => {
    expect(text(encodeComment())).toBe(':\n');
  });

  it('writes each line of the text as a comment line', () => {
    expect(text(encodeComment('keep\nalive\r\nnow'))).toBe(': keep\n: alive\n: now\n');
  });
});
