#!/usr/bin/env -S deno run --allow-net --allow-env
// hypha-core@0.20.86 README, "Deno WebSocket Server Implementation" > "Server Implementation"
// (a JavaScript snippet), with only its imports changed: '../src/hypha-core.js' -> 'hypha-core-rs',
// '../src/deno-websocket-server.js' -> 'hypha-core-rs/deno-websocket-server'. MIT-licensed.
import { HyphaCore } from 'hypha-core-rs';
import { DenoWebSocketServer, DenoWebSocketClient } from 'hypha-core-rs/deno-websocket-server';

const hyphaCore = new HyphaCore({
    url: "http://localhost:9527",
    ServerClass: DenoWebSocketServer,      // Use real WebSocket server
    WebSocketClass: DenoWebSocketClient,   // Use real WebSocket client
    jwtSecret: "deno-hypha-secret-key",
    defaultService: {
        // Services with context for authentication and workspace info
        hello: (name, context) => {
            name = name || "World";
            const greeting = `Hello, ${name}! Greetings from Deno Hypha Server 🦕`;
            console.log(`Hello service called: ${greeting}`, context ? `from ${context.from}` : '');
            return greeting;
        },
        
        get_time: (context) => {
            const now = new Date().toISOString();
            console.log(`Time service called: ${now}`, context ? `from ${context.from}` : '');
            return now;
        }
    }
});

// Start the server with proper connection handling
const api = await hyphaCore.start();
console.log(`🚀 Hypha Core server started at ${hyphaCore.url}`);
