#!/usr/bin/env python3
"""Reads a packet capture (tcpdump -w, loopback) of a fault-suite run and
answers, for one broker port, what the gateway did on the wire:

- the order in which the gateway first sent each reading (PUBLISH at QoS 1,
  PUBREL at QoS 2, which is when mosquitto 2.0 delivers a QoS 2 message)
  and the order in which the broker first delivered each one to the
  subscriber: a reading released after a larger one is reordered there;
- every reading the broker acknowledged to the gateway (PUBACK, PUBREC)
  that never reached the subscriber (lost by the broker), and every one the
  gateway never sent.

usage: mqtt_capture.py CAPTURE.pcap PORT [PORT...] [--gateway ID] [--events] [--value N ...]
The ports are the broker's and, for the suite's stream cases, the tap's the
gateway connects to (tests/faults/mqtt_tap.hpp). Readings are the payloads
on topics ending in /seq (the suite's counter).
"""
import argparse
import struct
import sys
from collections import defaultdict


def frames(path):
    with open(path, 'rb') as f:
        head = f.read(24)
        magic = struct.unpack('<I', head[:4])[0]
        e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
        nano = magic in (0xa1b23c4d, 0x4d3cb2a1)
        link = struct.unpack(e + 'I', head[20:24])[0]
        offset = {1: 14, 113: 16, 276: 20, 0: 4}.get(link)
        if offset is None:
            sys.exit(f'link type {link} not supported')
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, caplen, _ = struct.unpack(e + 'IIII', h)
            data = f.read(caplen)
            ip = data[offset:]
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
                continue
            ihl = (ip[0] & 15) * 4
            total = struct.unpack('>H', ip[2:4])[0]
            tcp = ip[ihl:total]
            sport, dport, seq = struct.unpack('>HHI', tcp[:8])
            yield sec + frac / (1e9 if nano else 1e6), sport, dport, seq, tcp[13], tcp[(tcp[12] >> 4) * 4:]


def varint(b, i):
    mult, value = 1, 0
    while True:
        c = b[i]
        i += 1
        value += (c & 127) * mult
        mult *= 128
        if not c & 128:
            return value, i


NAMES = {4: 'PUBACK', 5: 'PUBREC', 6: 'PUBREL', 7: 'PUBCOMP'}


def mqtt_events(path, ports):
    """(time, client port, to_broker, kind, packet id, qos, dup, topic, payload, reason)"""
    expected, pending, version = {}, defaultdict(bytes), {}
    for t, sport, dport, seq, flags, payload in frames(path):
        if dport in ports:
            port = dport
        elif sport in ports:
            port = sport
        else:
            continue
        key = (sport, dport)
        if flags & 2:  # SYN: a new connection
            expected[key] = (seq + 1) & 0xffffffff
            pending[key] = b''
            continue
        if not payload or key not in expected:
            continue
        ahead = (seq - expected[key]) & 0xffffffff
        if ahead:
            if ahead < 0x80000000:
                print(f'warning: bytes missing in the capture of {key}', file=sys.stderr)
                continue
            behind = (expected[key] - seq) & 0xffffffff  # a retransmission
            if behind >= len(payload):
                continue
            payload = payload[behind:]
        expected[key] = (expected[key] + len(payload)) & 0xffffffff
        b = pending[key] + payload
        i = 0
        to_broker = dport == port
        client = sport if to_broker else dport
        while len(b) - i >= 2:
            try:
                length, j = varint(b, i + 1)
            except IndexError:
                break
            if len(b) < j + length:
                break
            kind, fl, body = b[i] >> 4, b[i] & 15, b[j:j + length]
            i = j + length
            if kind == 1:  # CONNECT: protocol level and client id
                n = struct.unpack('>H', body[:2])[0]
                level = body[2 + n]
                version[client] = level
                k = 2 + n + 4
                if level == 5:
                    plen, k = varint(body, k)
                    k += plen
                idlen = struct.unpack('>H', body[k:k + 2])[0]
                yield t, client, True, 'CONNECT', None, None, None, body[k + 2:k + 2 + idlen].decode(), None, None
            elif kind == 3:
                qos, dup = (fl >> 1) & 3, fl >> 3
                n = struct.unpack('>H', body[:2])[0]
                topic = body[2:2 + n].decode(errors='replace')
                k, pid = 2 + n, None
                if qos:
                    pid = struct.unpack('>H', body[k:k + 2])[0]
                    k += 2
                if version.get(client) == 5:
                    plen, k = varint(body, k)
                    k += plen
                yield t, client, to_broker, 'PUBLISH', pid, qos, dup, topic, body[k:].decode(errors='replace'), None
            elif kind in NAMES:
                pid = struct.unpack('>H', body[:2])[0]
                reason = body[2] if len(body) > 2 else 0
                yield t, client, to_broker, NAMES[kind], pid, None, None, None, None, reason
            elif kind == 2:
                yield t, client, to_broker, 'CONNACK', None, None, None, None, None, body[1]


def first_order_breaks(values):
    seen, highest, late = set(), None, []
    for v in values:
        if v in seen:
            continue
        seen.add(v)
        if highest is not None and v < highest:
            late.append((v, highest))
        highest = v if highest is None else max(highest, v)
    return seen, late


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('capture')
    ap.add_argument('port', type=int, nargs='+')
    ap.add_argument('--gateway', default='fieldbridge-gw', help='the gateway\'s client id')
    ap.add_argument('--events', action='store_true', help='print every QoS 1/2 packet')
    ap.add_argument('--value', type=int, action='append', default=[], help='print the history of a reading')
    a = ap.parse_args()

    client_id = {}
    value_of = {}  # (client id, packet id) -> reading, per direction's sender
    gateway_sent, gateway_acked, delivered = [], set(), []
    gateway_qos = None
    history = defaultdict(list)
    for t, client, to_broker, kind, pid, qos, dup, topic, payload, reason in mqtt_events(a.capture, set(a.port)):
        if kind == 'CONNECT':
            client_id[client] = topic
        who = client_id.get(client, f'port {client}')
        gw = who == a.gateway
        value = None
        if kind == 'PUBLISH':
            if not topic.endswith('/seq') or not payload.strip().isdigit():
                continue
            value = int(payload)
            if qos:
                value_of[(who, pid)] = value
            if gw and to_broker:
                gateway_qos = qos
                if qos < 2:
                    gateway_sent.append(value)
            if not gw and not to_broker and qos < 2:
                delivered.append(value)
        elif pid is not None:
            value = value_of.get((who, pid))
            if value is None:
                continue
            if gw and not to_broker and kind in ('PUBACK', 'PUBREC') and reason < 0x80:
                gateway_acked.add(value)
            if gw and to_broker and kind == 'PUBREL':
                gateway_sent.append(value)
            if not gw and not to_broker and kind == 'PUBREL':
                delivered.append(value)  # libmosquitto hands QoS 2 over at PUBREL
        else:
            continue
        line = (f'{t:.6f} {who:<16} {"->" if to_broker else "<-"} {kind:<7} id={pid}'
                f'{f" q{qos} d{dup}" if kind == "PUBLISH" else ""}{f" rc=0x{reason:02x}" if reason else ""} '
                f'reading={value}')
        history[value].append(line)
        if a.events:
            print(line)

    sent, late_sent = first_order_breaks(gateway_sent)
    got, late_got = first_order_breaks(delivered)
    what = 'PUBREL' if gateway_qos == 2 else 'PUBLISH'
    print(f'gateway {a.gateway} at QoS {gateway_qos}: {len(sent)} readings released ({what}), '
          f'{len(late_sent)} first released after a larger one{": " + str(late_sent[:10]) if late_sent else ""}')
    print(f'broker to subscriber(s): {len(got)} readings delivered, {len(late_got)} first delivered after a larger '
          f'one{": " + str(late_got[:10]) if late_got else ""}')
    acked_lost = sorted(v for v in gateway_acked if v not in got)
    print(f'acknowledged by the broker (PUBACK/PUBREC) and never delivered: {len(acked_lost)} {acked_lost[:20]}')
    if sent:
        never = sorted(v for v in range(min(sent), max(sent) + 1) if v not in sent)
        print(f'between {min(sent)} and {max(sent)}, never released by the gateway: {len(never)} {never[:20]}')
    for v in a.value:
        print(f'-- reading {v}:')
        for line in history.get(v, ['(not in the capture)']):
            print('  ' + line)


if __name__ == '__main__':
    main()
