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

const readline = require("readline");
const {
  AttributeIds,
  DataType,
  VariantArrayType,
  StatusCodes,
  makeBrowsePath,
} = require("node-opcua-client");
const { connect, emit, run } = require("./session");

function nextLine() {
  const rl = readline.createInterface({ input: process.stdin });
  return new Promise((resolve, reject) => {
    rl.once("line", (line) => {
      resolve(line); // first: closing below also emits "close"
      rl.close();
      process.stdin.destroy(); // an open stdin would keep the script alive
    });
    rl.once("close", () => reject(new Error("stdin closed before the test went on")));
  });
}

// The states of a JobOrderAndState entry or a job response, as plain data.
function states(list) {
  return (list || []).map((s) => ({
    number: s.stateNumber,
    text: s.stateText && s.stateText.text,
    path: ((s.browsePath && s.browsePath.elements) || []).map((e) => e.targetName.name).join("/"),
  }));
}

function parameters(list) {
  const out = {};
  for (const p of list || []) {
    out[p.ID] = p.value ? p.value.value : null;
  }
  return out;
}

// node-opcua gives a UInt64 as [high, low]
function uint64(value) {
  return Array.isArray(value) ? value[0] * 2 ** 32 + value[1] : Number(value);
}

function time(date) {
  return date instanceof Date ? date.toISOString() : null;
}

async function main(cfg) {
  const { session, close } = await connect(cfg);
  const ns = {};
  const namespaceArray = await session.readNamespaceArray();
  for (const [key, uri] of Object.entries(cfg.namespaces)) {
    ns[key] = namespaceArray.indexOf(uri);
    if (ns[key] < 0) throw new Error(`namespace ${uri} not on the server`);
  }

  // every node by its browse path from the Objects folder, as an MES would find them
  const management = `/${ns.twin}:Cell/${ns.jobs}:JobManagement`;
  const paths = {
    control: `${management}/${ns.jobs}:JobOrderControl`,
    storeAndStart: `${management}/${ns.jobs}:JobOrderControl/${ns.isa95}:StoreAndStart`,
    storeArgs: `${management}/${ns.jobs}:JobOrderControl/${ns.isa95}:StoreAndStart/0:InputArguments`,
    list: `${management}/${ns.jobs}:JobOrderControl/${ns.isa95}:JobOrderList`,
    maxDownloadable: `${management}/${ns.jobs}:JobOrderControl/${ns.isa95}:MaxDownloadableJobOrders`,
    results: `${management}/${ns.jobs}:JobOrderResults`,
    byId: `${management}/${ns.jobs}:JobOrderResults/${ns.isa95}:RequestJobResponseByJobOrderID`,
  };
  const ids = {};
  for (const [key, path] of Object.entries(paths)) {
    const found = await session.translateBrowsePath(makeBrowsePath("ObjectsFolder", path));
    if (found.statusCode !== StatusCodes.Good || !found.targets || !found.targets.length) {
      throw new Error(`${path}: ${found.statusCode.name}`);
    }
    ids[key] = found.targets[0].targetId;
  }

  // the JobOrder argument's data type, and its structure from the server's definitions
  const args = await session.read({ nodeId: ids.storeArgs, attributeId: AttributeIds.Value });
  const jobOrderType = args.value.value[0].dataType;
  const jobOrder = await session.constructExtensionObject(jobOrderType, {
    jobOrderID: cfg.jobOrderId,
    endTime: new Date(cfg.endTime),
    jobOrderParameters: cfg.parameters.map(([id, value]) => ({
      ID: id,
      value: { dataType: typeof value === "number" ? DataType.Double : DataType.String, value },
    })),
  });
  const started = await session.call({
    objectId: ids.control,
    methodId: ids.storeAndStart,
    inputArguments: [
      { dataType: DataType.ExtensionObject, value: jobOrder },
      {
        dataType: DataType.LocalizedText,
        arrayType: VariantArrayType.Array,
        value: [{ text: "from node-opcua" }],
      },
    ],
  });
  const result = {
    jobOrderType: jobOrderType.toString(),
    jobOrderClass: jobOrder.constructor.name,
    storeStatus: started.statusCode.name,
    returnStatus: started.outputArguments.length ? uint64(started.outputArguments[0].value) : null,
  };

  const max = await session.read({ nodeId: ids.maxDownloadable, attributeId: AttributeIds.Value });
  result.maxDownloadable = { type: DataType[max.value.dataType], value: max.value.value };

  const listed = await session.read({ nodeId: ids.list, attributeId: AttributeIds.Value });
  const entries = listed.value.value || [];
  const mine = entries.find((e) => e.jobOrder && e.jobOrder.jobOrderID === cfg.jobOrderId);
  result.listStatus = listed.statusCode.name;
  result.listLength = entries.length;
  if (mine) {
    result.listed = {
      jobOrderID: mine.jobOrder.jobOrderID,
      endTime: time(mine.jobOrder.endTime),
      parameters: parameters(mine.jobOrder.jobOrderParameters),
      states: states(mine.state),
    };
  }
  emit({ step: "listed", ...result });

  await nextLine();
  const response = await session.call({
    objectId: ids.results,
    methodId: ids.byId,
    inputArguments: [{ dataType: DataType.String, value: cfg.jobOrderId }],
  });
  const out = { byIdStatus: response.statusCode.name };
  if (response.statusCode === StatusCodes.Good) {
    const r = response.outputArguments[0].value;
    out.returnStatus = uint64(response.outputArguments[1].value);
    out.response = {
      jobResponseID: r.jobResponseID,
      jobOrderID: r.jobOrderID,
      startTime: time(r.startTime),
      endTime: time(r.endTime),
      jobState: states(r.jobState),
      data: parameters(r.jobResponseData),
    };
  }
  await close();
  emit({ step: "result", ...out });
}

run(main);
