throw new Error('test files are never imported by discover()');
