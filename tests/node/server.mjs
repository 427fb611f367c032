// Starts a trio_socketapi app (`python -m trio_socketapi module:app`) on a free loopback port,
// and stops or restarts it on the same port, for the JS client's tests.

import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const PYTHON = process.env.PYTHON || "python3";
const START_TIMEOUT = 20000;

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function listening(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export class AppServer {
  /** `target` is `module:app`; `cwd` the directory it is imported from (the repo root). */
  constructor(target, { cwd = ROOT, port = 0 } = {}) {
    this.target = target;
    this.cwd = cwd;
    this.port = port;
    this.process = null;
    this.stderr = "";
  }

  get url() {
    return `ws://127.0.0.1:${this.port}/`;
  }

  get httpUrl() {
    return `http://127.0.0.1:${this.port}/`;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    const args = ["-m", "trio_socketapi", this.target, "--host", "127.0.0.1", "--port", String(this.port)];
    const child = spawn(PYTHON, args, { cwd: this.cwd, stdio: ["ignore", "ignore", "pipe"] });
    this.process = child;
    this.stderr = "";
    child.stderr.on("data", (chunk) => (this.stderr += chunk));
    const deadline = Date.now() + START_TIMEOUT;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${this.target} exited: ${this.stderr}`);
      if (await listening(this.port)) return this;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill("SIGKILL");
    throw new Error(`${this.target} did not listen on ${this.port} in ${START_TIMEOUT} ms`);
  }

  async stop() {
    const child = this.process;
    if (child === null || child.exitCode !== null) return;
    this.process = null;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  async restart() {
    await this.stop();
    await this.start();
  }
}
