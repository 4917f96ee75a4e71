/** The events this chat's server and page share (the server reads the same names). */
export interface ChatMessage {
  id: string;
  from: string;
  text: string;
  at: number;
}

export type ChatEvents = {
  /** Request: publish a message to a room; the reply names the stored message. */
  'chat:send': { data: { room: string; text: string }; reply: { id: string } };
  /** Room event: a message someone sent. */
  message: { data: ChatMessage };
  /** Direct event, on connect: who the server thinks we are. */
  welcome: { data: { name: string; connId: string } };
};
