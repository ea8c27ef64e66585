// Interop of ISA-95 job order status events (OPC 10031-4 ISA95JobOrderStatusEventType) with an
// independent stack: node-opcua, as an MES, subscribes to events on JobOrderResults with one
// OfType element on the abstract ISA-95 type (the twin's events are of its subtype), starts a
// job order and collects the events of that order until it has ended.
//
// Usage: node status.js CONFIG.json   (modules resolved through NODE_PATH=<repo>/node/node_modules)
// CONFIG: the connection fields of session.js plus {namespaces: {twin, jobs, isa95} (URIs),
//         jobOrderId, endTime (ISO 8601), parameters: [[ID, value], ...]}
// Protocol on stdout (one JSON object per line):
//   {"step": "started", store}: subscribed, then the order was sent with StoreAndStart;
//   (line: the job has completed) {"step": "result", events}: the order's status events, in
//     order, up to the Ended one: [{eventType, sourceNode, jobOrderID, states, response:
//     {jobOrderID, states}}].
"use strict";

const {
  AttributeIds,
  NodeId,
  TimestampsToReturn,
  constructEventFilter,
  ofType,
} = require("node-opcua-client");
const { connect, emit, run } = require("./session");
const { jobControl, states, stdinLines } = require("./mes");

const ISA95_STATUS_EVENT_TYPE = 1006; // ISA95JobOrderStatusEventType (abstract)
const ENDED = 5;
const FIELDS = ["EventType", "SourceNode", "JobOrder", "JobState", "JobResponse"];

// The event filter: FIELDS (the last three of the ISA-95 type), where OfType the ISA-95 type
function statusFilter(isa95) {
  const isa95Type = new NodeId(NodeId.NodeIdType.NUMERIC, ISA95_STATUS_EVENT_TYPE, isa95);
  const names = FIELDS.map((name, i) => (i < 2 ? name : { namespaceIndex: isa95, name }));
  const filter = constructEventFilter(names, ofType(isa95Type));
  for (const clause of filter.selectClauses.slice(2)) clause.typeDefinitionId = isa95Type;
  return filter;
}

async function main(cfg) {
  const go = stdinLines();
  const { session, close } = await connect(cfg);
  const mes = await jobControl(session, cfg.namespaces);

  const subscription = await session.createSubscription2({
    requestedPublishingInterval: 50,
    requestedLifetimeCount: 100,
    requestedMaxKeepAliveCount: 10,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 1,
  });
  const item = await subscription.monitor(
    { nodeId: await mes.results(), attributeId: AttributeIds.EventNotifier },
    { queueSize: 100, discardOldest: false, filter: statusFilter(mes.ns.isa95) },
    TimestampsToReturn.Both
  );
  const events = [];
  const ended = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no Ended status event within 20 s")), 20000);
    item.on("changed", (fields) => {
      const [eventType, sourceNode, jobOrder, jobState, jobResponse] = fields.map((f) => f.value);
      if (!jobOrder || jobOrder.jobOrderID !== cfg.jobOrderId) return;
      const told = states(jobState);
      events.push({
        eventType: eventType.toString(),
        sourceNode: sourceNode.toString(),
        jobOrderID: jobOrder.jobOrderID,
        states: told,
        response: { jobOrderID: jobResponse.jobOrderID, states: states(jobResponse.jobState) },
      });
      if (told.length && told[0].number === ENDED) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  ended.catch(() => {}); // awaited after the go-ahead; not unhandled meanwhile

  emit({ step: "started", store: await mes.send("StoreAndStart", cfg) });

  await go.next();
  await ended;
  await subscription.terminate();
  go.close();
  await close();
  emit({ step: "result", events });
}

run(main);
