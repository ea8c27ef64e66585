#!/usr/bin/env node
// Fan-out benchmark subscriber: an independent OPC UA stack (node-opcua) that subscribes to N
// variables (publishing interval 100 ms, queue size 1), counts delivered data-change
// notifications over a fixed window and the latency from each value's source timestamp to its
// receipt, and prints one JSON object on stdout.
//
// usage: node subscriber.js --url opc.tcp://127.0.0.1:4840 --ns 2 --first 1 --count 5000
//                           [--warmup 3] [--seconds 20] [--interval 100]
//                           [--sync 1]  (print "subscribed" on stderr, start on a stdin line)
"use strict";

const path = require("path");
const nodeModules = path.resolve(__dirname, "..", "..", "node", "node_modules");
const {
    OPCUAClient,
    MessageSecurityMode,
    SecurityPolicy,
    ClientSubscription,
    TimestampsToReturn,
    AttributeIds,
} = require(path.join(nodeModules, "node-opcua-client"));

function parseArgs(argv) {
    const opts = { warmup: 3, seconds: 20, interval: 100, ns: 2, first: 1, count: 100, sync: 0, url: "" };
    for (let i = 2; i < argv.length; i += 2) {
        const key = argv[i].replace(/^--/, "");
        if (!(key in opts)) throw new Error(`unknown option --${key}`);
        opts[key] = key === "url" ? argv[i + 1] : Number(argv[i + 1]);
    }
    if (!opts.url) throw new Error("--url is required");
    return opts;
}

function percentile(sorted, q) {
    if (sorted.length === 0) return null;
    const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return sorted[i];
}

async function main() {
    const opts = parseArgs(process.argv);
    const client = OPCUAClient.create({
        applicationName: "cell-twin-fanout-bench",
        endpointMustExist: false,
        // a benchmark on loopback: security None on purpose
        securityMode: MessageSecurityMode.None,
        securityPolicy: SecurityPolicy.None,
        connectionStrategy: { maxRetry: 3, initialDelay: 200, maxDelay: 1000 },
        transportSettings: { maxMessageSize: 0, maxChunkCount: 0 },
        requestedSessionTimeout: 120000,
    });
    await client.connect(opts.url);
    const session = await client.createSession();
    const subscription = ClientSubscription.create(session, {
        requestedPublishingInterval: opts.interval,
        requestedLifetimeCount: 600,
        requestedMaxKeepAliveCount: 20,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 10,
    });
    await new Promise((resolve, reject) => {
        subscription.once("started", resolve);
        subscription.once("terminated", () => reject(new Error("subscription terminated")));
    });

    let measuring = false;
    let count = 0;
    let lat = new Float64Array(1 << 20);
    let nlat = 0;
    let total = 0;
    let missingTs = 0;
    subscription.on("raw_notification", (msg) => {
        const now = Date.now();
        for (const nd of msg.notificationData || []) {
            const items = nd && nd.monitoredItems;
            if (!items) continue;
            total += items.length;
            if (!measuring) continue;
            count += items.length;
            for (const it of items) {
                const ts = it.value && it.value.sourceTimestamp;
                if (!ts) {
                    missingTs++;
                    continue;
                }
                if (nlat === lat.length) {
                    const bigger = new Float64Array(lat.length * 2);
                    bigger.set(lat);
                    lat = bigger;
                }
                lat[nlat++] = now - ts.getTime();
            }
        }
    });

    const items = [];
    for (let k = 0; k < opts.count; k++) {
        items.push({ nodeId: `ns=${opts.ns};i=${opts.first + k}`, attributeId: AttributeIds.Value });
    }
    const params = { samplingInterval: opts.interval, discardOldest: true, queueSize: 1 };
    const chunk = 1000;
    const t0 = Date.now();
    for (let k = 0; k < items.length; k += chunk) {
        await subscription.monitorItems(items.slice(k, k + chunk), params, TimestampsToReturn.Both);
    }
    const setupMs = Date.now() - t0;

    if (opts.sync) {
        // driven by the benchmark: report readiness, start the window on a line from stdin,
        // so several subscribers measure the same window
        process.stderr.write("subscribed\n");
        await new Promise((resolve) => {
            process.stdin.once("data", resolve);
            process.stdin.resume();
        });
        process.stdin.pause();
    } else {
        await new Promise((r) => setTimeout(r, opts.warmup * 1000));
    }
    process.stderr.write("window-start\n");
    measuring = true;
    const start = Date.now();
    await new Promise((r) => setTimeout(r, opts.seconds * 1000));
    measuring = false;
    process.stderr.write("window-end\n");
    const elapsed = (Date.now() - start) / 1000;

    const sorted = lat.subarray(0, nlat).sort();
    const result = {
        items: opts.count,
        seconds: elapsed,
        notifications: count,
        rate: count / elapsed,
        p50_ms: percentile(sorted, 0.5),
        p99_ms: percentile(sorted, 0.99),
        max_ms: nlat ? sorted[nlat - 1] : null,
        setup_ms: setupMs,
        total_seen: total,
        missing_source_timestamps: missingTs,
    };
    await subscription.terminate().catch(() => {});
    await session.close().catch(() => {});
    await client.disconnect().catch(() => {});
    process.stdout.write(JSON.stringify(result) + "\n");
}

main().then(
    () => process.exit(0),
    (err) => {
        process.stderr.write(`subscriber failed: ${err && err.stack ? err.stack : err}\n`);
        process.exit(1);
    },
);
