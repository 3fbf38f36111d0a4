import { SseError } from './errors.js';
import type { ChannelVerdict } from './route.js';

/**
 * The parameters a channel pattern captures: `'users/:id'` gives `{ id: string }`,
 * `'docs/:doc/comments'` gives `{ doc: string }`, a pattern without `:` gives `{}`.
 */
export type PatternParams<Pattern extends string> = string extends Pattern
  ? Record<string, string>
  : Pattern extends `${infer Head}/${infer Rest}`
    ? SegmentParam<Head> & PatternParams<Rest>
    : SegmentParam<Pattern>;

// biome-ignore lint/complexity/noBannedTypes: `{}` is the identity of the intersection above.
type SegmentParam<Segment extends string> = Segment extends `:${infer Name}` ? { [Key in Name]: string } : {};

/** A compiled channel pattern: `match(name)` gives the captured parameters, or `undefined`. */
export interface ChannelPattern<Pattern extends string = string> {
  readonly pattern: Pattern;
  match(name: string): PatternParams<Pattern> | undefined;
}

const PARAM = /^:[A-Za-z_$][\w$]*$/;

/**
 * Compiles a channel pattern: segments separated by `/`, each either literal text that must
 * equal the channel's segment, or `:name`, which captures one non-empty segment. A pattern
 * matches a channel with exactly as many segments: `users/:id` matches `users/42`, not
 * `users/42/inbox` nor `users/`. Segments are compared as they are, never decoded.
 *
 * @throws {@link SseError} `INVALID_OPTION` for an empty segment, a parameter that is not an
 *   identifier, or a parameter named twice.
 */
export function channelPattern<Pattern extends string>(pattern: Pattern): ChannelPattern<Pattern> {
  const segments = pattern.split('/');
  const names = new Set<string>();
  for (const segment of segments) {
    const param = segment.startsWith(':');
    const problem =
      segment === ''
        ? 'has an empty segment'
        : param && !PARAM.test(segment)
          ? `names a parameter ${JSON.stringify(segment)} that is not an identifier`
          : param && names.has(segment)
            ? `names the parameter ${segment} twice`
            : undefined;
    if (problem) throw new SseError('INVALID_OPTION', `channel pattern ${JSON.stringify(pattern)} ${problem}.`);
    if (param) names.add(segment);
  }
  return {
    pattern,
    match(name) {
      const parts = name.split('/');
      if (parts.length !== segments.length) return undefined;
      const params: Record<string, string> = {};
      for (const [i, segment] of segments.entries()) {
        const part = parts[i] as string;
        if (!segment.startsWith(':')) {
          if (part !== segment) return undefined;
        } else if (part === '') return undefined;
        else params[segment.slice(1)] = part;
      }
      return params as PatternParams<Pattern>;
    },
  };
}

/** A rule of {@link channelRules}: a verdict, or a function of the request and the pattern's parameters. */
export type ChannelRule<Request, Pattern extends string> =
  | ChannelVerdict
  | ((request: Request, params: PatternParams<Pattern>) => ChannelVerdict | Promise<ChannelVerdict>);

/**
 * An `authorize` for the `channels()` routes from rules by channel pattern: the first pattern
 * that matches a channel decides, with the parameters it captured; a channel no pattern
 * matches is refused (403). "First" is the object's key order, in which JavaScript puts
 * keys that are whole numbers (`'42'`) before all others: such a pattern always comes first.
 *
 * Annotate the request in a rule (not as a type argument, which would leave the patterns
 * untyped) for each rule's parameters to be typed by its pattern.
 *
 * @example
 * authorize: channelRules({
 *   lobby: true,
 *   'users/:id': (req: Request, { id }) => req.user?.id === id || 403,
 *   'docs/:doc/comments': (req: Request, { doc }) => canRead(req.user, doc),
 * })
 * @throws {@link SseError} `INVALID_OPTION` for a pattern that is not one, when the rules are made.
 */
export function channelRules<Request, Patterns extends string = string>(
  rules: {
    [Pattern in Patterns]: ChannelRule<Request, Pattern>;
  },
): (channel: string, request: Request) => Promise<ChannelVerdict> {
  const compiled = Object.entries(rules as Record<string, ChannelRule<Request, string>>).map(
    ([pattern, rule]) => [channelPattern(pattern), rule] as const,
  );
  return async (channel, request) => {
    for (const [pattern, rule] of compiled) {
      const params = pattern.match(channel);
      if (params) return typeof rule === 'function' ? rule(request, params) : rule;
    }
    return 403;
  };
}
