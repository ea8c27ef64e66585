// Event filters the twin cannot evaluate, sent by an independent stack: node-opcua creates
// event monitored items on the Server object whose where clause is malformed (an operator the
// server does not support, an Equals with one operand, an And pointing at a missing element)
// and one it can evaluate, in one CreateMonitoredItems request, and reports what came back.
//
// Usage: node event_filter.js CONFIG.json
//   (modules resolved through NODE_PATH=<repo>/node/node_modules)
// CONFIG: the connection fields of session.js.
// Protocol on stdout (one JSON object per line):
//   {"step": "result", items: [{status, elements}]}: each item's status code and the status
//     codes of its where clause's elements in its EventFilterResult (names), in request order.
"use strict";

const {
  AttributeIds,
  ContentFilter,
  ContentFilterElement,
  DataType,
  ElementOperand,
  FilterOperator,
  LiteralOperand,
  MonitoringMode,
  TimestampsToReturn,
  Variant,
  constructEventFilter,
} = require("node-opcua-client");
const { connect, emit, run } = require("./session");

const literal = (value) =>
  new LiteralOperand({ value: new Variant({ dataType: DataType.UInt16, value }) });

// The filter selecting EventId, EventType and Severity, where ``elements``
function filter(elements) {
  const evfilter = constructEventFilter(["EventId", "EventType", "Severity"]);
  evfilter.whereClause = new ContentFilter({
    elements: elements.map(
      ([filterOperator, filterOperands]) =>
        new ContentFilterElement({ filterOperator, filterOperands })
    ),
  });
  return evfilter;
}

async function main(cfg) {
  const { session, close } = await connect(cfg);
  const subscription = await session.createSubscription2({ publishingEnabled: true });
  const severity = constructEventFilter(["Severity"]).selectClauses[0];
  const filters = [
    filter([[FilterOperator.RelatedTo, [severity, literal(1), literal(1), literal(1)]]]),
    filter([[FilterOperator.Equals, [severity]]]),
    filter([[FilterOperator.And, [new ElementOperand({ index: 5 }), literal(1)]]]),
    filter([[FilterOperator.GreaterThanOrEqual, [severity, literal(100)]]]),
  ];
  const response = await session.createMonitoredItems({
    subscriptionId: subscription.subscriptionId,
    timestampsToReturn: TimestampsToReturn.Both,
    itemsToCreate: filters.map((evfilter, i) => ({
      itemToMonitor: { nodeId: "i=2253", attributeId: AttributeIds.EventNotifier },
      monitoringMode: MonitoringMode.Reporting,
      requestedParameters: {
        clientHandle: 100 + i,
        samplingInterval: 0,
        queueSize: 10,
        filter: evfilter,
      },
    })),
  });
  const items = response.results.map((r) => {
    const where = r.filterResult && r.filterResult.whereClauseResult;
    const elements = (where && where.elementResults) || [];
    return { status: r.statusCode.name, elements: elements.map((e) => e.statusCode.name) };
  });
  await subscription.terminate();
  await close();
  emit({ step: "result", items });
}

run(main);
