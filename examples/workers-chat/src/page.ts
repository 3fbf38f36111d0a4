// The page, inline: Workers have no file system, and the browser needs no build step. One
// EventSource per room; the browser reconnects by itself and sends the last id it saw.
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A room on the page, and the id of its newest message when the page was made. */
export interface PageRoom {
  name: string;
  newestId: string | undefined;
}

/**
 * The events URL of a room. A browser cannot send `Last-Event-ID` on its first connection,
 * so the page starts from the id it was made with (a `lastEventId` query parameter): nothing
 * posted after the page loaded is missed, even before its streams are open. On reconnect the
 * browser sends the header, which takes precedence.
 */
const eventsUrl = ({ name, newestId }: PageRoom) =>
  `/rooms/${name}/events${newestId ? `?lastEventId=${encodeURIComponent(newestId)}` : ''}`;

/** The chat page, showing `rooms`. */
export const page = (rooms: readonly PageRoom[]) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ssekit chat on Workers</title>
<style>
  :root { color-scheme: dark; }
  body { max-width: 60rem; margin: 0 auto; padding: 2rem 1.25rem; background: #0b1020; color: #e7ebf4; font: 15px/1.5 system-ui, sans-serif; }
  h1 { font-size: 1.5rem; letter-spacing: -0.01em; }
  h2 { font-size: 1.1rem; margin: 0; }
  .status { color: #8d98b3; font-size: .85rem; }
  form { display: flex; gap: .5rem; flex-wrap: wrap; }
  input, select { padding: .55rem .8rem; border: 1px solid #24304f; border-radius: 8px; background: #131b31; color: inherit; font: inherit; }
  #text { flex: 1; min-width: 12rem; }
  button { padding: .55rem 1rem; border: 0; border-radius: 8px; background: #8ba3ff; color: #0b1020; font: inherit; font-weight: 600; cursor: pointer; }
  #rooms { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem; margin-top: 1.5rem; }
  .room { padding: 1rem; border: 1px solid #24304f; border-radius: 12px; }
  .room ul { list-style: none; padding: 0; margin: .5rem 0 0; }
  .room li { margin: .4rem 0; padding: .5rem .8rem; border-radius: 10px; background: #131b31; }
  .room b { color: #8ba3ff; }
  #error { color: #ff8b8b; }
</style>
</head>
<body>
<h1>Chat on Cloudflare Workers + Durable Objects</h1>
<form id="send">
  <input id="name" name="name" maxlength="40" placeholder="Your name" required>
  <select id="room" aria-label="Room">${rooms.map(({ name }) => `<option>${escapeHtml(name)}</option>`).join('')}</select>
  <input id="text" name="text" maxlength="500" placeholder="Say something" autocomplete="off" required>
  <button>Send</button>
</form>
<p id="error"></p>
<div id="rooms">${rooms
  .map(
    (room) => `
  <section class="room" data-room="${escapeHtml(room.name)}" data-events="${escapeHtml(eventsUrl(room))}">
    <h2>#${escapeHtml(room.name)}</h2>
    <span class="status">connecting</span>
    <ul></ul>
  </section>`,
  )
  .join('')}
</div>
<script>
  for (const section of document.querySelectorAll('.room')) {
    const status = section.querySelector('.status');
    const list = section.querySelector('ul');
    const source = new EventSource(section.dataset.events);
    source.onopen = () => (status.textContent = 'open');
    source.onerror = () => (status.textContent = source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    source.addEventListener('message', (event) => {
      const { name, text, at } = JSON.parse(event.data);
      const item = document.createElement('li');
      const who = document.createElement('b');
      who.textContent = name;
      item.append(who, ': ' + text);
      item.title = at + ' (id ' + event.lastEventId + ')';
      list.prepend(item);
    });
  }

  const form = document.getElementById('send');
  const name = document.getElementById('name');
  name.value = localStorage.getItem('name') ?? '';
  form.onsubmit = async (event) => {
    event.preventDefault();
    localStorage.setItem('name', name.value);
    const room = document.getElementById('room').value;
    const response = await fetch('/rooms/' + room + '/messages', { method: 'POST', body: new URLSearchParams(new FormData(form)) });
    document.getElementById('error').textContent = response.ok ? '' : (await response.json()).error;
    if (response.ok) document.getElementById('text').value = '';
  };
</script>
</body>
</html>
`;
