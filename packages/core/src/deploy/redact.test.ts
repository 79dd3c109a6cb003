import { describe, expect, it } from 'vitest'
import { Redactor } from './redact.js'

describe('Redactor', () => {
  it('masks registered values, their URL-encoded form and credential-shaped text', () => {
    const r = new Redactor()
    r.add('p@ss/word!')
    r.add('abc') // too short to mask safely
    expect(r.redact('login p@ss/word! and p%40ss%2Fword! and abc')).toBe('login *** and *** and abc')
    expect(r.redact('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y')).toBe('Authorization: ***')
    expect(r.redact('sent "Token 0123456789abcdef"')).toBe('sent "Token ***"')
    expect(r.redact('{"password":"hunter2hunter2"}')).toBe('{"password":"***"}')
  })

  it('masks a registered value inside base64 at any alignment (a Basic pair, a docker config auth), and JSON-escaped', () => {
    const r = new Redactor()
    const secret = 'hunter2-hunter2-hunter2'
    r.add(secret)
    for (const user of ['u', 'us', 'use', 'robot']) {
      const b64 = Buffer.from(`${user}:${secret}`).toString('base64')
      const shown = r.redact(`invalid credential '${b64}'`)
      expect(shown).toContain('***')
      // What is left of the base64 no longer decodes to the secret, nor to most of it.
      const rest = shown.replace(/^invalid credential '|'$/g, '').split('***')
      for (const part of rest) expect(Buffer.from(part, 'base64').toString('latin1')).not.toContain('hunter2-hunter2')
    }
    expect(r.redact(Buffer.from(`x:${secret}`).toString('base64url'))).toContain('***')
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----\n'
    r.add(pem)
    expect(r.redact(JSON.stringify({ private_key: pem }))).not.toContain('MIIEvQ')
    // Too short to have base64 characters of its own: not masked there (it would hit ordinary text).
    const short = new Redactor()
    short.add('abcd1234')
    expect(short.redact(Buffer.from('u:abcd1234').toString('base64'))).toBe(Buffer.from('u:abcd1234').toString('base64'))
  })

  it('masks credential shapes nobody registered: a password in a URL, a client secret, a PEM private key', () => {
    const r = new Redactor()
    expect(r.redact('cannot reach https://deployer:s3cr3t-pass@api.example.com/v1')).toBe('cannot reach https://deployer:***@api.example.com/v1')
    expect(r.redact('client_secret=GOCSPX-abcdef123&x=1')).toBe('client_secret=***&x=1')
    expect(r.redact('{"client_secret": "GOCSPX-abcdef123"}')).toBe('{"client_secret": "***"}')
    expect(r.redact('key: -----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY----- end')).toBe('key: *** end')
    // Ordinary URLs and text are left alone.
    expect(r.redact('see https://docs.example.com/a:b and user@example.com')).toBe('see https://docs.example.com/a:b and user@example.com')
  })

  it('redacts every string of a record, keeping its shape', () => {
    const r = new Redactor()
    r.add('canary-1234')
    expect(r.redactValue({ a: 'x canary-1234', b: [1, 'canary-1234'], c: { d: true } })).toEqual({ a: 'x ***', b: [1, '***'], c: { d: true } })
  })
})
