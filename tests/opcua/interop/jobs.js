// Interop of ISA-95 Job Control (Machinery Jobs) with an independent stack: node-opcua builds
// an ISA95JobOrderDataType from the server's own DataTypeDefinition, calls StoreAndStart,
// finds the order in JobOrderList and, once the twin has finished it, requests its response.
//
// Usage: node jobs.js CONFIG.json   (modules resolved through NODE_PATH=<repo>/node/node_modules)
// CONFIG: the connection fields of session.js plus {namespaces: {twin, jobs, isa95} (URIs),
//         jobOrderId, endTime (ISO 8601), parameters: [[ID, value], ...]}
// Protocol on stdout (one JSON object per line): {"step": "listed", ...} once the order is
// started and found in JobOrderList; the script then waits for one line on stdin (the test
// has driven the twin until the job ended) and ends with {"step": "result", ...}.
"use strict";

const { connect, emit, run } = require("./session");
const { jobControl, stdinLines } = require("./mes");

async function main(cfg) {
  const go = stdinLines();
  const { session, close } = await connect(cfg);
  const mes = await jobControl(session, cfg.namespaces);

  const store = await mes.send("StoreAndStart", cfg);
  const maxDownloadable = await mes.maxDownloadable();
  const list = await mes.list();
  emit({
    step: "listed",
    store,
    maxDownloadable,
    listStatus: list.status,
    listLength: list.entries.length,
    listed: list.entries.find((e) => e.jobOrderID === cfg.jobOrderId),
  });

  await go.next();
  const response = await mes.response(cfg.jobOrderId);
  go.close();
  await close();
  emit({ step: "result", ...response });
}

run(main);
