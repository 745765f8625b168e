// Uploads one file to a fileserver node with tus-js-client and prints one JSON line:
// {"uploadUrl": <the tus URL>, "fileUrl": <X-Fileserver-Url of the finishing response>}.
// Usage: node upload.js <endpoint> <file> [chunkSize (0: all at once)] [parallelUploads]
'use strict'
const fs = require('fs')
const path = require('path')
const tus = require('tus-js-client')

const [endpoint, file, chunkArg, parallelArg] = process.argv.slice(2)
if (!endpoint || !file) {
  console.error('usage: node upload.js <endpoint> <file> [chunkSize] [parallelUploads]')
  process.exit(2)
}

let fileUrl = null
const options = {
  endpoint,
  chunkSize: Number(chunkArg) > 0 ? Number(chunkArg) : Infinity,
  retryDelays: [0, 300, 1000, 2000],
  metadata: { filename: path.basename(file), filetype: 'application/octet-stream' },
  onAfterResponse (req, res) {
    const u = res.getHeader('X-Fileserver-Url')
    if (u) fileUrl = u
  },
  onError (err) {
    console.error('upload failed: ' + err)
    process.exit(1)
  },
  onSuccess () {
    console.log(JSON.stringify({ uploadUrl: upload.url, fileUrl }))
  }
}
if (parallelArg) options.parallelUploads = Number(parallelArg)

// a Buffer (not a stream) so parallel uploads can slice it
const upload = new tus.Upload(fs.readFileSync(file), options)
upload.start()
