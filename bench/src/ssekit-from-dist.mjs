// `--import`ed by the bench's server processes for a full run: ssekit's packages resolve to
// their build (dist), as users get them from npm, instead of src run through tsx, whose
// keepNames gives every named closure a `name` property of its own (about 0.25 KB each).
import { register } from 'node:module';

register('./ssekit-dist-hooks.mjs', import.meta.url);
