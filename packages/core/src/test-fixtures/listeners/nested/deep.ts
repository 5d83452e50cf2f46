throw new Error('subdirectories are never imported by discover()');
