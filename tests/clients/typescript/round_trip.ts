// The messages round trip of tests/clients/test_generated_clients.py, through the typescript-fetch client: post three
// messages (and retry the first with its Idempotency-Key), page through them, read one, edit it with its ETag,
// edit it again with the old ETag (412), delete it, read it again (404). Prints what happened as JSON.
// Run with BASE_URL, TOKEN and AUTHOR (the token's sub) in the environment; node 20 has fetch built in.

import { Configuration, Message, MessagesApi, ResponseError } from "./index";

declare const process: { env: Record<string, string | undefined>; exit(code: number): never };

async function refusal(call: () => Promise<unknown>): Promise<{ status: number; error: string }> {
  try {
    await call();
  } catch (error) {
    if (error instanceof ResponseError) {
      return { status: error.response.status, error: (await error.response.json()).error };
    }
    throw error;
  }
  throw new Error("the call was not refused");
}

async function main(): Promise<void> {
  const { BASE_URL, TOKEN, AUTHOR } = process.env;
  const api = new MessagesApi(new Configuration({ basePath: BASE_URL, apiKey: `Bearer ${TOKEN}` }));

  const created = [];
  for (const text of ["one", "two", "three"]) {
    const answer = await api.createMessageRaw({ payload: { text }, idempotencyKey: `typescript-${text}` });
    const message: Message = await answer.value();
    created.push({ status: answer.raw.status, id: message.id, text: message.text, author: message.author,
                   etag: answer.raw.headers.get("ETag"), location: answer.raw.headers.get("Location") });
  }
  const replayed = await api.createMessage({ payload: { text: "one" }, idempotencyKey: "typescript-one" });

  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const page = await api.listMessages({ limit: 2, cursor, author: AUTHOR });
    pages.push(page.items.map((message) => message.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);

  const first = created[0].id;
  const read = await api.getMessageRaw({ messageId: first });
  const etag = read.raw.headers.get("ETag") ?? "";
  const editing = await api.editMessageRaw({ messageId: first, ifMatch: etag, payload: { text: "edited" } });
  const edited = await editing.value();
  const stale = await refusal(() => api.editMessage({ messageId: first, ifMatch: etag, payload: { text: "lost" } }));
  const deleted = await api.deleteMessageRaw({ messageId: first });
  const gone = await refusal(() => api.getMessage({ messageId: first }));

  console.log(JSON.stringify({
    created, replayed: replayed.id, pages, etag, stale, deleted: deleted.raw.status, gone,
    edited: { status: editing.raw.status, version: edited.version, text: edited.text,
              etag: editing.raw.headers.get("ETag"), dates: edited.createdAt instanceof Date },
  }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
