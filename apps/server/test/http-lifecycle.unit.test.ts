import test from 'ava';
import express from 'express';
import { KEEP_ALIVE_MS, listen } from '../src/http-lifecycle.ts';

test('idle keep-alive connections are kept 65 s, and clients are told so', async (t) => {
  const app = express();
  app.get('/', (_req, res) => void res.send('ok'));
  const http = await listen(app, 0);
  try {
    t.is(http.server.keepAliveTimeout, KEEP_ALIVE_MS);
    t.true(http.server.headersTimeout > http.server.keepAliveTimeout);
    const res = await fetch(`http://127.0.0.1:${http.port}/`);
    t.is(await res.text(), 'ok');
    t.is(res.headers.get('keep-alive'), 'timeout=65');
  } finally {
    await http.drain(0);
  }
});
