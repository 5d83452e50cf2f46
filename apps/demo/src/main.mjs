console.log('demo arrives with the core');
