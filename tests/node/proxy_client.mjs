// The official OpenAI SDK (npm `openai`) as the client of `distillgate proxy`
// (tests/tools/proxy_sdk_test.sh). Modes:
//   check BASE_URL MODEL REFUSED_MODEL ERROR_MODEL   a chat completion, a streamed one, a completion and a
//                                                    streamed one, a refused model,
//                                                    an upstream error, the model list; exit 1 on any failure
//   loop BASE_URL MODEL N FILE                       N calls one after another; each answer the client got
//                                                    is appended to FILE as {id, content}; stops at an error
//   concurrent BASE_URL MODEL CLIENTS CALLS FILE     CLIENTS clients at once, CALLS calls each; every answer
//                                                    id to FILE; exit 1 unless all succeeded
import fs from "node:fs";
import OpenAI from "openai";

const [mode, baseURL, model, ...rest] = process.argv.slice(2);
const client = () => new OpenAI({ baseURL, apiKey: process.env.DG_TEST_API_KEY || "sk-none", maxRetries: 0, timeout: 60000 });
const failures = [];
const expect = (ok, what) => { if (!ok) failures.push(what); };
const ask = (text, extra = {}) => ({ model, messages: [{ role: "user", content: text }], max_tokens: 16, temperature: 0, ...extra });

async function check(refusedModel, errorModel) {
  const c = client();
  const plain = await c.chat.completions.create(ask("apple"));
  expect(plain.object === "chat.completion" && typeof plain.choices[0].message.content === "string", "a chat completion: " + JSON.stringify(plain));
  // The same prompt streamed: the chunks add up to the same answer (greedy).
  const stream = await c.chat.completions.create(ask("apple", { stream: true, stream_options: { include_usage: true } }));
  let text = "", chunks = 0, usage = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.choices.length) text += chunk.choices[0].delta.content ?? "";
    if (chunk.usage) usage = chunk.usage;
  }
  expect(chunks >= 3 && text === plain.choices[0].message.content, `a streamed completion adds up to the plain one: ${JSON.stringify(text)} vs ${JSON.stringify(plain.choices[0].message.content)} in ${chunks} chunks`);
  expect(usage !== null, "the streamed usage chunk arrived");
  // The (legacy) completions endpoint, plain and streamed.
  const comp = await c.completions.create({ model, prompt: "apple", max_tokens: 16, temperature: 0 });
  expect(comp.object === "text_completion" && typeof comp.choices[0].text === "string", "a completion: " + JSON.stringify(comp));
  let ctext = "";
  for await (const chunk of await c.completions.create({ model, prompt: "apple", max_tokens: 16, temperature: 0, stream: true })) {
    ctext += chunk.choices[0]?.text ?? "";
  }
  expect(ctext === comp.choices[0].text, `a streamed completion adds up to the plain one: ${JSON.stringify(ctext)} vs ${JSON.stringify(comp.choices[0].text)}`);
  try {
    await c.chat.completions.create({ ...ask("apple"), model: refusedModel });
    failures.push("a refused model was answered");
  } catch (e) {
    expect(e instanceof OpenAI.PermissionDeniedError && e.status === 403 && /job/.test(e.message), "a refused model: 403 naming the job, got " + e);
  }
  try {
    await c.chat.completions.create({ ...ask("apple"), model: errorModel });
    failures.push("the upstream error did not reach the client");
  } catch (e) {
    expect(e instanceof OpenAI.APIError && e.status >= 400 && e.status !== 403, "an upstream error passed through as the upstream sent it, got " + e);
  }
  const models = [];
  for await (const m of c.models.list()) models.push(m.id);
  expect(models.length >= 1 && models.every((id) => id === model || id.startsWith(model + "-")), "only the job's model is listed: " + models);
  console.log(JSON.stringify({ plain: plain.choices[0].message.content, streamed: text, chunks, completion: comp.choices[0].text, models, failures }));
  process.exit(failures.length ? 1 : 0);
}

async function loop(n, file) {
  const c = client();
  for (let i = 0; i < n; i++) {
    try {
      const r = await c.chat.completions.create(ask("word " + i, { stream: i % 2 === 1 }));
      let id, content = "";
      if (i % 2 === 1) {
        for await (const chunk of r) { id = chunk.id; content += chunk.choices[0]?.delta?.content ?? ""; }
      } else {
        id = r.id;
        content = r.choices[0].message.content;
      }
      fs.appendFileSync(file, JSON.stringify({ id, content }) + "\n");
    } catch (e) {
      console.log(`stopped after ${i} calls: ${e.message}`);
      return;
    }
  }
  console.log(`${n} calls`);
}

async function concurrent(clients, calls, file) {
  const ids = [];
  let errors = 0;
  await Promise.all(Array.from({ length: clients }, async (_, k) => {
    const c = client();
    for (let i = 0; i < calls; i++) {
      try {
        const r = await c.chat.completions.create(ask(`client ${k} call ${i}`));
        ids.push(r.id);
      } catch (e) {
        errors++;
        console.error(`client ${k} call ${i}: ${e.message}`);
      }
    }
  }));
  fs.writeFileSync(file, ids.join("\n") + "\n");
  console.log(JSON.stringify({ answered: ids.length, errors }));
  process.exit(errors ? 1 : 0);
}

if (mode === "check") await check(rest[0], rest[1]);
else if (mode === "loop") await loop(Number(rest[0]), rest[1]);
else if (mode === "concurrent") await concurrent(Number(rest[0]), Number(rest[1]), rest[2]);
else { console.error("mode: check | loop | concurrent"); process.exit(2); }
