// Starts telegram-test-api (an independent Bot API emulator) on 127.0.0.1:PORT for the tests.
// Usage: node server.js PORT   (or TTA_PORT=PORT node server.js). Prints one ready line.
'use strict';

const TelegramServer = require('telegram-test-api');

async function main() {
  const port = Number(process.argv[2] || process.env.TTA_PORT);
  if (!Number.isInteger(port) || port <= 0) {
    console.error('usage: node server.js PORT');
    process.exit(2);
  }
  // storeTimeout: keep every message for the whole run (the default forgets them after 60 s).
  const server = new TelegramServer({ host: '127.0.0.1', port, storeTimeout: 3600 });
  await server.start();
  console.log(`telegram-test-api ready at ${server.config.apiURL}`);
  const stop = () => server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
