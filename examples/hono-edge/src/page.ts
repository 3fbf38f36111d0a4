// The page, inline so that Workers (which have no file system) can serve it too.
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The example's only page: the clock and the messages, each over its own EventSource. */
export const page = (runtime: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ssekit on ${escapeHtml(runtime)}</title>
<style>
  :root { color-scheme: dark; }
  body { max-width: 44rem; margin: 0 auto; padding: 2rem 1.25rem; background: #0b1020; color: #e7ebf4; font: 15px/1.5 system-ui, sans-serif; }
  h1 { font-size: 1.5rem; letter-spacing: -0.01em; }
  .status { color: #8d98b3; }
  input { width: min(24rem, 70%); padding: .55rem .8rem; border: 1px solid #24304f; border-radius: 8px; background: #131b31; color: inherit; font: inherit; }
  button { padding: .55rem 1rem; border: 0; border-radius: 8px; background: #8ba3ff; color: #0b1020; font: inherit; font-weight: 600; cursor: pointer; }
  #messages { list-style: none; padding: 0; }
  #messages li { margin: .4rem 0; padding: .6rem .9rem; border: 1px solid #24304f; border-radius: 10px; background: #131b31; }
  #clock { color: #8ba3ff; font: 600 2.2rem ui-monospace, monospace; }
</style>
</head>
<body>
<h1>ssekit on <span id="runtime">${escapeHtml(runtime)}</span></h1>
<p id="clock">…</p>
<p class="status">clock: <span id="clock-status">connecting</span></p>
<form id="send"><input id="text" maxlength="500" placeholder="Say something to every tab" autocomplete="off" required> <button>Send</button></form>
<ul id="messages"></ul>
<p class="status">messages: <span id="messages-status">connecting</span></p>
<script>
  const status = (source, element) => {
    source.onopen = () => (element.textContent = 'open');
    source.onerror = () => (element.textContent = source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  };
  const clock = new EventSource('/clock');
  status(clock, document.getElementById('clock-status'));
  clock.addEventListener('tick', (event) => {
    const { tick, time } = JSON.parse(event.data);
    document.getElementById('clock').textContent = time.slice(11, 19) + ' UTC, tick ' + tick;
  });

  const messages = new EventSource('/messages');
  status(messages, document.getElementById('messages-status'));
  messages.onmessage = (event) => {
    const { text, runtime } = JSON.parse(event.data);
    const item = document.createElement('li');
    item.textContent = text + ' (via ' + runtime + ')';
    document.getElementById('messages').prepend(item);
  };
  document.getElementById('send').onsubmit = async (event) => {
    event.preventDefault();
    const input = document.getElementById('text');
    await fetch('/messages', { method: 'POST', body: input.value });
    input.value = '';
  };
</script>
</body>
</html>
`;
