// A hand-written Api in the shape `trio-socketapi typescript` generates (see docs/clients.md),
// for the example app's actions and channels used below.

export interface User {
  id: number;
  name: string;
  status?: "online" | "away" | "offline";
}

export interface Message {
  user: string;
  text: string;
  room: string;
  sent_at?: string;
}

export interface Api {
  actions: {
    add: { params: { a: number; b?: number }; result: number };
    get_user: { params: { user_id: number }; result: User };
    send_message: { params: { message: Message }; result: Message };
    get_history: { params: { room_id: string; limit?: number }; result: Message[] };
    ping: { params: {}; result: string };
  };
  channels: {
    chat_room: { params: { room_id: string; message?: Message | null }; data: Message | { [key: string]: string } };
    clock: { params: {}; data: string };
  };
}
