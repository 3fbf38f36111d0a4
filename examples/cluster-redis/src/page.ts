// The page every instance serves: which instance this tab's stream is on, and the feed.
export const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ssekit cluster on Redis</title>
<style>
  :root { color-scheme: dark; }
  body { max-width: 44rem; margin: 0 auto; padding: 2rem 1.25rem; background: #0b1020; color: #e7ebf4; font: 15px/1.5 system-ui, sans-serif; }
  h1 { font-size: 1.5rem; letter-spacing: -0.01em; }
  .status { color: #8d98b3; }
  input { width: min(24rem, 70%); padding: .55rem .8rem; border: 1px solid #24304f; border-radius: 8px; background: #131b31; color: inherit; font: inherit; }
  button { padding: .55rem 1rem; border: 0; border-radius: 8px; background: #8ba3ff; color: #0b1020; font: inherit; font-weight: 600; cursor: pointer; }
  #messages { list-style: none; padding: 0; }
  #messages li { margin: .4rem 0; padding: .6rem .9rem; border: 1px solid #24304f; border-radius: 10px; background: #131b31; }
  #instance { color: #34d399; font-weight: 700; }
</style>
</head>
<body>
<h1>One feed, three instances</h1>
<p>This tab's stream is on <span id="instance">…</span> <span class="status">(<span id="status">connecting</span>)</span></p>
<form id="send"><input id="text" maxlength="500" placeholder="Say something to every tab" autocomplete="off" required> <button>Send</button></form>
<ul id="messages"></ul>
<script>
  const events = new EventSource('/events');
  const status = document.getElementById('status');
  events.onopen = () => (status.textContent = 'open');
  events.onerror = () => (status.textContent = 'reconnecting');
  events.addEventListener('instance', (event) => (document.getElementById('instance').textContent = event.data));
  events.onmessage = (event) => {
    const { text, from } = JSON.parse(event.data);
    const item = document.createElement('li');
    item.textContent = text + ' (posted to ' + from + ', event ' + event.lastEventId + ')';
    document.getElementById('messages').prepend(item);
  };
  document.getElementById('send').onsubmit = async (event) => {
    event.preventDefault();
    const input = document.getElementById('text');
    const response = await fetch('/publish', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: input.value });
    if (response.ok) input.value = '';
    else status.textContent = 'could not send: ' + (await response.json()).error;
  };
</script>
</body>
</html>
`;
