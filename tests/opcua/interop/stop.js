// Interop of ISA-95 Stop (JobOrderControl, OPC 10031-4) with an independent stack: node-opcua,
// as an MES, starts a job order, stops it while its operation is under way, and sees it end.
//
// Usage: node stop.js CONFIG.json   (modules resolved through NODE_PATH=<repo>/node/node_modules)
// CONFIG: the connection fields of session.js plus {namespaces: {twin, jobs, isa95} (URIs),
//         jobOrderId, endTime (ISO 8601), parameters: [[ID, value], ...], unknownId}
// Protocol on stdout (one JSON object per line), each step after a line on stdin (the test has
// driven the twin to the next point):
//   {"step": "started", store}: the order was sent with StoreAndStart;
//   (line: it is running) {"step": "stopping", unknown, listUnchanged, stop, states, again}:
//     Stop of unknownId and whether JobOrderList read the same after it, then Stop of the order,
//     its states in JobOrderList right after, and a second Stop;
//   (line: it has ended) {"step": "result", states, response, late}: its states in JobOrderList,
//     its job response and a Stop once it has ended.
"use strict";

const { connect, emit, run } = require("./session");
const { jobControl, stdinLines } = require("./mes");

async function main(cfg) {
  const go = stdinLines();
  const { session, close } = await connect(cfg);
  const mes = await jobControl(session, cfg.namespaces);
  const mine = async () =>
    (await mes.list()).entries.find((e) => e.jobOrderID === cfg.jobOrderId).states;

  emit({ step: "started", store: await mes.send("StoreAndStart", cfg) });

  await go.next();
  const before = await mes.list();
  const unknown = await mes.control("Stop", cfg.unknownId);
  const after = await mes.list();
  const stop = await mes.control("Stop", cfg.jobOrderId);
  const states = await mine();
  const again = await mes.control("Stop", cfg.jobOrderId);
  emit({
    step: "stopping",
    unknown,
    listUnchanged: JSON.stringify(after) === JSON.stringify(before),
    stop,
    states,
    again,
  });

  await go.next();
  const ended = await mine();
  const response = await mes.response(cfg.jobOrderId);
  const late = await mes.control("Stop", cfg.jobOrderId);
  go.close();
  await close();
  emit({ step: "result", states: ended, response, late });
}

run(main);
