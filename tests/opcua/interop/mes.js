// Shared by the job interop scripts: an MES's view of the twin's ISA-95 Job Control (OPC 10031-4
// on Machinery Jobs JobManagement) through a node-opcua session. Every node is found by its
// browse path from the Objects folder, as an MES would find it; calls, JobOrderList entries and
// job responses come back as plain data for the scripts' JSON lines.
//
// CONFIG fields used here: {namespaces: {twin, jobs, isa95} (URIs)}.
"use strict";

const readline = require("readline");
const {
  AttributeIds,
  DataType,
  VariantArrayType,
  makeBrowsePath,
} = require("node-opcua-client");

// The Comment argument of every JobOrderControl method (LocalizedText[])
const COMMENT = {
  dataType: DataType.LocalizedText,
  arrayType: VariantArrayType.Array,
  value: [{ text: "from node-opcua" }],
};

// The test's go-ahead lines on stdin (it has driven the twin to the next point): await next()
// for each; close() at the end, as an open stdin would keep the script alive. Lines written
// before next() is called are kept.
function stdinLines() {
  const rl = readline.createInterface({ input: process.stdin });
  const lines = rl[Symbol.asyncIterator]();
  return {
    async next() {
      const { value, done } = await lines.next();
      if (done) throw new Error("stdin closed before the test went on");
      return value;
    },
    close() {
      rl.close();
      process.stdin.destroy();
    },
  };
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

// A method call's outcome: its status, and ReturnStatus (the last output argument of every
// ISA-95 Job Control method) when it succeeded, or the status and diagnostic message of the
// first input argument (the job order or its id) when it was refused.
function outcome(result) {
  const out = { status: result.statusCode.name };
  const outputs = result.outputArguments || [];
  if (result.statusCode.isGood()) {
    out.returnStatus = outputs.length ? uint64(outputs[outputs.length - 1].value) : null;
  } else {
    const argument = (result.inputArgumentResults || [])[0];
    const info = (result.inputArgumentDiagnosticInfos || [])[0];
    out.argStatus = argument ? argument.name : null;
    out.message = (info && info.additionalInfo) || null;
  }
  return out;
}

async function jobControl(session, namespaces) {
  const ns = {};
  const namespaceArray = await session.readNamespaceArray();
  for (const [key, uri] of Object.entries(namespaces)) {
    ns[key] = namespaceArray.indexOf(uri);
    if (ns[key] < 0) throw new Error(`namespace ${uri} not on the server`);
  }
  const management = `/${ns.twin}:Cell/${ns.jobs}:JobManagement`;
  const control = `${management}/${ns.jobs}:JobOrderControl`;
  const results = `${management}/${ns.jobs}:JobOrderResults`;

  const found = new Map();
  async function node(path) {
    if (!found.has(path)) {
      const at = await session.translateBrowsePath(makeBrowsePath("ObjectsFolder", path));
      if (!at.statusCode.isGood() || !at.targets || !at.targets.length) {
        throw new Error(`${path}: ${at.statusCode.name}`);
      }
      found.set(path, at.targets[0].targetId);
    }
    return found.get(path);
  }

  async function read(path) {
    return session.read({ nodeId: await node(path), attributeId: AttributeIds.Value });
  }

  // JobOrderControl's ``method`` with ``first`` (a variant: the job order or its id) and COMMENT
  async function call(method, first) {
    const result = await session.call({
      objectId: await node(control),
      methodId: await node(`${control}/${ns.isa95}:${method}`),
      inputArguments: [first, COMMENT],
    });
    return outcome(result);
  }

  return {
    ns, // namespace indexes by the keys of ``namespaces``

    // the JobOrderResults object (the job response provider, source of status events)
    results: () => node(results),

    // a JobOrderControl method that takes a JobOrderID (Start, Stop, Pause, Abort, ...)
    control(method, jobOrderId) {
      return call(method, { dataType: DataType.String, value: jobOrderId });
    },

    // Store or StoreAndStart an ISA95JobOrderDataType built from the server's own definition
    // (the data type of the method's JobOrder argument); parameters: [[ID, value], ...]
    async send(method, { jobOrderId, endTime, parameters: params }) {
      const args = await read(`${control}/${ns.isa95}:${method}/0:InputArguments`);
      const jobOrderType = args.value.value[0].dataType;
      const jobOrder = await session.constructExtensionObject(jobOrderType, {
        jobOrderID: jobOrderId,
        endTime: endTime ? new Date(endTime) : undefined,
        jobOrderParameters: params.map(([id, value]) => ({
          ID: id,
          value: { dataType: typeof value === "number" ? DataType.Double : DataType.String, value },
        })),
      });
      return {
        jobOrderType: jobOrderType.toString(),
        jobOrderClass: jobOrder.constructor.name,
        ...(await call(method, { dataType: DataType.ExtensionObject, value: jobOrder })),
      };
    },

    async maxDownloadable() {
      const max = await read(`${control}/${ns.isa95}:MaxDownloadableJobOrders`);
      return { type: DataType[max.value.dataType], value: max.value.value };
    },

    // JobOrderList: its read status and every entry
    async list() {
      const listed = await read(`${control}/${ns.isa95}:JobOrderList`);
      const entries = (listed.value.value || []).map((e) => ({
        jobOrderID: e.jobOrder.jobOrderID,
        endTime: time(e.jobOrder.endTime),
        parameters: parameters(e.jobOrder.jobOrderParameters),
        states: states(e.state),
      }));
      return { status: listed.statusCode.name, entries };
    },

    // RequestJobResponseByJobOrderID: its status, ReturnStatus and the response
    async response(jobOrderId) {
      const result = await session.call({
        objectId: await node(results),
        methodId: await node(`${results}/${ns.isa95}:RequestJobResponseByJobOrderID`),
        inputArguments: [{ dataType: DataType.String, value: jobOrderId }],
      });
      const out = outcome(result);
      if (result.statusCode.isGood()) {
        const r = result.outputArguments[0].value;
        out.response = {
          jobResponseID: r.jobResponseID,
          jobOrderID: r.jobOrderID,
          startTime: time(r.startTime),
          endTime: time(r.endTime),
          jobState: states(r.jobState),
          data: parameters(r.jobResponseData),
        };
      }
      return out;
    },
  };
}

module.exports = { jobControl, states, stdinLines };
