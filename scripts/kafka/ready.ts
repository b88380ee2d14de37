/**
 * Readiness probe for a Kafka broker: `node scripts/kafka/ready.ts HOST:PORT [timeoutMs] [pid]`
 * exits 0 as soon as the broker answers a metadata request (Admin.listTopics over the
 * real protocol, not a bare TCP connect: the port opens before the broker can serve),
 * 1 when `timeoutMs` (default 60 s) passed or the process `pid` (the broker's JVM, when
 * given) died first. Used by scripts/lib/kafka.sh; test/helpers/kafka-broker.ts probes
 * in-process the same way. Extend the check here (e.g. produce to a probe topic) if a
 * later suite needs more than metadata.
 */
import { Admin } from '@platformatic/kafka';

const [broker = '127.0.0.1:19092', timeoutArg = '60000', pidArg] = process.argv.slice(2);
const deadline = Date.now() + Number(timeoutArg);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // ESRCH: the process is gone, which is exactly what we are asking.
  }
}

let lastError = 'not tried';
while (Date.now() < deadline) {
  if (pidArg && !alive(Number(pidArg))) {
    console.error(`kafka ready: process ${pidArg} exited before ${broker} answered`);
    process.exit(1);
  }
  const admin = new Admin({
    clientId: 'backbeat-ready',
    bootstrapBrokers: [broker],
    retries: 0,
    requestTimeout: 2000,
  });
  try {
    await admin.listTopics();
    await admin.close();
    process.exit(0);
  } catch (err) {
    lastError = err instanceof Error ? err.message : String(err);
    await admin.close().catch(() => undefined); // the probe failed already; its close error adds nothing
  }
  await new Promise((r) => setTimeout(r, 200));
}
console.error(`kafka ready: ${broker} did not answer within ${timeoutArg} ms (last error: ${lastError})`);
process.exit(1);
