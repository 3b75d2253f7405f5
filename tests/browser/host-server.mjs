// A tiny static server for the host pages the widget is embedded in. It runs
// on its own loopback port, so the widget is loaded cross-origin exactly as on
// a customer's site. Pages under pages/ may contain {{SERVER}} (the enuchat
// base URL, from ENUCHAT_URL), {{WIDGET_ID}} (from ?widget=) and {{ID}} (from
// ?id=, e.g. a conversation id).
//
//   ENUCHAT_URL=http://127.0.0.1:8080 PORT=8090 node host-server.mjs
import http from 'node:http';
import { readFile } from 'node:fs/promises';

const server = process.env.ENUCHAT_URL;
const port = Number(process.env.PORT || 0);
if (!server) {
  console.error('ENUCHAT_URL is required');
  process.exit(2);
}

const pages = new URL('./pages/', import.meta.url);

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, 'http://host');
    const name = url.pathname.slice(1) || 'host.html';
    // Only plain page names: nothing outside pages/ can be asked for.
    if (!/^[\w-]+\.html$/.test(name)) return notFound(res);
    let html;
    try {
      html = await readFile(new URL(name, pages), 'utf8');
    } catch {
      return notFound(res);
    }
    const widget = (url.searchParams.get('widget') || '').replace(/[^\w-]/g, '');
    const id = (url.searchParams.get('id') || '').replace(/[^\w-]/g, '');
    html = html.replaceAll('{{SERVER}}', server).replaceAll('{{WIDGET_ID}}', widget).replaceAll('{{ID}}', id);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html);
  })
  .listen(port, '127.0.0.1', function () {
    console.log(`host pages at http://127.0.0.1:${this.address().port}/`);
  });

function notFound(res) {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
}
