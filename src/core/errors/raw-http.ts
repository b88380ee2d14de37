/**
 * A whole HTTP/1.1 error response in the SPEC shape `{"error":{"code","message"}}`, for
 * answers written straight to a socket where no framework reply exists: refused WebSocket
 * upgrades, and errors Node's parser raises before there is a request. Closes the connection.
 */
export function rawErrorResponse(status: number, reason: string, code: string, message: string): string {
  const body = JSON.stringify({ error: { code, message } });
  return `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
