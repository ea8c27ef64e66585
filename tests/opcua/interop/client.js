// Interop check with an independent OPC UA stack (node-opcua-client).
//
// Usage: node client.js CONFIG.json   (modules resolved through NODE_PATH=<repo>/node/node_modules)
// CONFIG: the connection fields of session.js plus
//         {machinesNodeId, signalNodeId, cellNodeId, setSpeedNodeId, injectFaultNodeId}
// Protocol on stdout (one JSON object per line): {"step": "subscribed"} when the monitored
// item is live (the test then moves simulated time), then {"step": "result", ...}.
"use strict";

const {
  AttributeIds,
  TimestampsToReturn,
  ClientSubscription,
  ClientMonitoredItem,
  DataType,
} = require("node-opcua-client");
const { connect, emit, run } = require("./session");

async function main(cfg) {
  const { session, close } = await connect(cfg);
  const result = {};

  const browsed = await session.browse(cfg.machinesNodeId);
  result.browseStatus = browsed.statusCode.name;
  result.machines = browsed.references.map((r) => r.browseName.name).sort();

  const read = await session.read({ nodeId: cfg.signalNodeId, attributeId: AttributeIds.Value });
  result.readStatus = read.statusCode.name;
  result.readValue = read.value.value;

  const subscription = ClientSubscription.create(session, {
    requestedPublishingInterval: 100,
    requestedLifetimeCount: 100,
    requestedMaxKeepAliveCount: 10,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 1,
  });
  const item = ClientMonitoredItem.create(
    subscription,
    { nodeId: cfg.signalNodeId, attributeId: AttributeIds.Value },
    { samplingInterval: 100, discardOldest: true, queueSize: 1 },
    TimestampsToReturn.Both
  );
  const values = [];
  const changed = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no data change within 20 s")), 20000);
    item.on("changed", (dv) => {
      values.push(dv.value.value);
      if (values.length === 1) {
        emit({ step: "subscribed", value: dv.value.value });
      } else {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await changed;
  result.notifications = values;

  const ok = await session.call({
    objectId: cfg.cellNodeId,
    methodId: cfg.setSpeedNodeId,
    inputArguments: [{ dataType: DataType.Double, value: 90.0 }],
  });
  result.setSpeedStatus = ok.statusCode.name;

  const bad = await session.call({
    objectId: cfg.cellNodeId,
    methodId: cfg.injectFaultNodeId,
    inputArguments: [
      { dataType: DataType.String, value: "no-such-machine" },
      { dataType: DataType.String, value: "breakdown" },
      { dataType: DataType.Double, value: 0 },
    ],
  });
  result.injectFaultStatus = bad.statusCode.name;
  result.injectFaultArgStatus = (bad.inputArgumentResults || []).map((s) => s.name);

  await subscription.terminate();
  await close();
  emit({ step: "result", ...result });
}

run(main);
