// The page every instance serves: which instance this tab's stream is on, and the feed.
export const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ssekit cluster on Redis</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
  #instance { font-weight: bold; }
  #messages { list-style: none; padding: 0; }
  #messages li { border-bottom: 1px solid #ddd; padding: .25rem 0; }
  .status { color: #666; }
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
