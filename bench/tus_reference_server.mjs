// The reference tus server for bench_sync.py: @tus/server with @tus/file-store, as its README
// shows it, on 127.0.0.1. Usage: node tus_reference_server.mjs PORT DIRECTORY
// Prints "listening" once it accepts connections.
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";

const [port, directory] = process.argv.slice(2);
const server = new Server({ path: "/files", datastore: new FileStore({ directory }) });
server.listen({ host: "127.0.0.1", port: Number(port) }, () => console.log("listening"));
